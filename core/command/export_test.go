package command

// Screen is screen for the external tests.
var Screen = screen
