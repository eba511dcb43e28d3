"""The report's architecture part, read from the code: components, diagram, interfaces, settings, Docker."""
