"""The PAI engine: pure Python, no Home Assistant imports.

Models, the governance gate, PAID records, the .pai container and the rule brain live here so
that they can be read in one sitting and tested fast, in isolation. The Home Assistant modules
one level up are thin adapters around it.
"""
