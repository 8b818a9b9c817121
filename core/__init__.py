"""The Self-AMPLIFY method: samples, models, attribution, rationales, prompts and evaluation.

Nothing in this package imports Textual. Heavy libraries (torch, transformers, captum, shap)
are imported by the modules that need them, never by this package's ``__init__``.
"""
