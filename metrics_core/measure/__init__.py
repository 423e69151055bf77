"""Stage 6 - measurements on a real device, held against the estimates.

Owns: ``bench`` (timed forward passes on CPU/CUDA next to the roofline estimate).
May import: every stage below (it analyses models to fill in the estimates).
"""
