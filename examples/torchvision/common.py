"""What both torchvision scripts need: progress lines, running seer-agent, naming the host's CPU."""
import platform, subprocess, sys


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def seer(agent, *args):
    """Runs seer-agent; returns stdout, raising with the last line of its error output on failure."""
    p = subprocess.run([agent, *args], capture_output=True, text=True)
    if p.returncode != 0:
        text = (p.stderr or p.stdout).strip()
        raise RuntimeError(text.splitlines()[-1] if text else f"exit {p.returncode}")
    return p.stdout


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()
