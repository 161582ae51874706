"""Test accuracy of one policy as a campaign measures it, through `seer-agent evaluate` (shared by this folder's
scripts)."""
import json, os, subprocess, tempfile

agent = ".build/release/seer-agent"


def test_accuracy(model, policy, seed, m):
    """`policy` (JSON text) on `model`, fine-tuned with `seed` and the campaign's measurement settings `m`, measured on
    the whole test split."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(policy)
    try:
        r = subprocess.run([agent, "evaluate", "--model", model, "--policy", f.name, "--split", "test", "--seed", str(seed),
                            "--finetune-steps", str(m["finetune_steps"]), "--finetune-batch-size", str(m["batch_size"]),
                            "--calibration-images", str(m["calibration_images"]),
                            "--learning-rate", str(m["learning_rate"]), "--weight-decay", str(m["weight_decay"]),
                            "--json"], capture_output=True, text=True, check=True)
    finally:
        os.unlink(f.name)
    return json.loads(r.stdout.strip().splitlines()[-1])["accuracy"]
