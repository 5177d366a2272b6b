"""Model backends (codec, depth, generator): protocols, embedded and real implementations."""
