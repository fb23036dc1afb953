// Package config owns MedForge's settings: every MEDFORGE_* environment
// variable and its command-line flag, their defaults, and their validation.
//
// Settings are declared once, in the table in settings.go, which also feeds
// docs/configuration.md (a test keeps the two in step). Load never reads
// files, never touches the network and never logs secrets; an invalid
// setting is an error that names the variable.
package config
