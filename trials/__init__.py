"""The programs NNI runs as trials (retraining one architecture, a study's search or retraining job)
and their training protocols."""
