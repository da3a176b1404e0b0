"""Reading a prompt: its embedding (MiniLM, or the static table for the cheap first look), its category
and whether it is a security task."""
