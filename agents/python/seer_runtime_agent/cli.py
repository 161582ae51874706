"""seer-runtime-agent: a Seer runtime agent for onnxruntime (CPU, CUDA or TensorRT)."""

import argparse
import os
import signal
import sys

from .agent import Agent, Config
from .data import DEFAULT_DATA_DIR, DataError, DataSource, DataSpec
from .keys import KeyFileError, read_key, read_pair, write_pair
from .runtime import PROVIDERS, Runtime


def main(argv=None):
    parser = argparse.ArgumentParser(prog="seer-runtime-agent", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="register with a coordinator and measure artifacts")
    run.add_argument("--coordinator", required=True, help="e.g. tcp://coordinator:5555")
    run.add_argument("--key", required=True, dest="device_key", help="device key this agent measures for, e.g. ort-cuda")
    run.add_argument("--id", dest="agent_id", help="agent id (default: <device key>-<host>)")
    run.add_argument("--provider", choices=sorted(PROVIDERS), default="cpu", help="onnxruntime execution provider")
    run.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (0: its own choice)")
    run.add_argument("--data", default=DEFAULT_DATA_DIR,
                     help="data: a Fashion-MNIST/MNIST IDX directory, a Keras-style .npz (x_train, y_train, x_test, "
                          "y_test), or an image folder (ROOT/train/CLASS/*.png|jpg and ROOT/val/...)")
    run.add_argument("--data-mean", help="per-channel mean for normalization, comma-separated (default: Fashion-MNIST's "
                                         "for IDX, 0 otherwise); a job's own normalization comes first")
    run.add_argument("--data-std", help="per-channel std for normalization, comma-separated (default: Fashion-MNIST's "
                                        "for IDX, 1 otherwise)")
    run.add_argument("--data-layout", help="channel axis of 4-D npz images: nhwc or nchw (default: inferred)")
    run.add_argument("--cache", default=os.path.expanduser("~/.cache/seer-runtime-agent"), help="artifact cache")
    run.add_argument("--deploy-dir", help="install DEPLOYed artifacts here (announces the deploy capability)")
    run.add_argument("--keys", help="this agent's key directory (public.key, secret.key); CURVE is the default")
    run.add_argument("--server-key", help="the coordinator's public.key")
    run.add_argument("--plain", action="store_true", help="plain TCP without CURVE (the coordinator must be --plain)")
    run.add_argument("--hardware", help="hardware model announced in READY")
    keygen = sub.add_parser("keygen", help="write a CURVE key pair")
    keygen.add_argument("--out", required=True, help="directory for public.key and secret.key")
    args = parser.parse_args(argv)

    if args.command == "keygen":
        try:
            public, _ = write_pair(args.out)
        except (OSError, KeyFileError) as e:
            print(f"seer-runtime-agent: {e}", file=sys.stderr)
            return 2
        print(public)
        return 0

    if args.plain and (args.keys or args.server_key):
        parser.error("--plain turns CURVE off; do not combine it with --keys or --server-key")
    if not args.plain and not (args.keys and args.server_key):
        parser.error("give --keys and --server-key (CURVE), or --plain")
    if args.threads < 0:
        parser.error("--threads must be >= 0")
    runtime = Runtime(args.provider, args.threads)
    try:
        data = DataSource(DataSpec.command_line(args.data, args.data_mean, args.data_std, args.data_layout))
        runtime.check()
        public = secret = server = None
        if not args.plain:
            public, secret = read_pair(args.keys)
            server = read_key(args.server_key, "coordinator public key")
    except (ValueError, KeyFileError, DataError) as e:
        print(f"seer-runtime-agent: {e}", file=sys.stderr)
        return 2
    import platform
    config = Config(args.coordinator, args.agent_id or f"{args.device_key}-{platform.node() or 'host'}", args.device_key,
                    server, public, secret, args.hardware)

    def log(line):
        print(f"{config.agent_id}: {line}", flush=True)

    from .executor import Executor
    agent = Agent(config, Executor(config.agent_id, runtime, data, args.cache, args.deploy_dir, log), log)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: agent._stop.set())
    log(f"{runtime.describe()}; connecting to {args.coordinator} as {config.device_key}")
    code = agent.run()
    if agent.refusal:
        print(f"seer-runtime-agent: {agent.refusal}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
