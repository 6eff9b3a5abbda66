"""The built-in sound world: synthesizer, corpus, world T2A model, world CLAP and event detectors."""
