// Performance predictor.
