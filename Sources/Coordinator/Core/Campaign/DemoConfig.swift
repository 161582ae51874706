/// The embedded default campaign of `seer-coordinator demo` (configs/demo.yaml shows the same; a test keeps them equal).
public enum DemoConfig {
    public static let yaml = """
        name: demo
        model: resnet8
        metric: bitops
        budgets: ["12%", "20%", "30%"]
        devices: [cpu-x86]
        measurement:
          finetune_steps: 40
          batch_size: 64
          evaluation_limit: 1000
          calibration_images: 128
          latency: {repeat: 3, min_repeat_ms: 20}
        sampling:
          initial: 16
          rounds: 2
          per_round: 6
          band: [0.6, 1.0]
          refine: 1
        predictor:
          members: 8
          features: linear
        profiles:
          cpu-x86: {performance: "bitops=30%", balanced: "bitops=20%", saver: "bitops=12%"}
        seed: 0
        """
}
