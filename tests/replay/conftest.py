from tests.pipeline_process import pipeline

__all__ = ["pipeline"]
