"""Environments whose look is a parameter, registered with Gymnasium under ``darla/``."""
