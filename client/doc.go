// Package client is a small Go client for the MedForge competitor API
// (/api/v2), used by the `medforge submit`, `submissions` and `leaderboard`
// commands. It authenticates with a personal API token (Authorization:
// Bearer), decodes the {data, meta} envelope and turns problem+json answers
// into *Error values that keep the status, the stable code and the field
// problems. Its types are copies of the API's (the fields it uses); a test
// checks each against the committed OpenAPI document (docs/openapi.json), so
// a change on the server side fails there.
//
// It holds no state beyond its configuration, never talks to the
// database, never stores a token itself (the caller passes one from
// Config) and never sends a cookie.
package client
