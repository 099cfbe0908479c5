"""Views of the treatments app, one module per area. Thin: scoped fetch → form → service → redirect."""
