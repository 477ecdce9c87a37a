"""Tests for the PAI integration."""
