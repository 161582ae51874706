// SeerSearch: searching compression policies with a performance predictor. `PolicyEncoding` (search variables, feature
// rows, relaxation), `LayerwiseComplexity` (differentiable BitOPs/MACs/bytes), `PolicyOptimizer` (SeerNet's
// log-barrier gradient search), `EvolutionarySearch` (the OFA/APQ baseline), `PolicySampler` and
// `InformativeSampler` (which policies to measure next).
