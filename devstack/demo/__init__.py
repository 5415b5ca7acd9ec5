"""The main job's demo: realistic sample leads written to the source, watched as they land."""
