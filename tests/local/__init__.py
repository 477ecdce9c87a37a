"""Tests of the local GGUF brain, with the real Gemma 3 270M model and llama-cpp-python."""
