"""Import and export of the field's formats: Tango/BATON JSON Lines, audiofolder, Label Studio."""
