"""Evaluation: question sets (questions), scoring (metrics), runs and gates (run), reports
(report) and fitting the abstention thresholds (calibrate). ``rag.evaluate`` is
``rag.eval.run.evaluate``."""
