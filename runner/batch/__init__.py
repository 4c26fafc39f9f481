"""Batch mode: prompts sent through the providers' batch APIs (half price, within a day)."""
