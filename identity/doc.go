// Package identity owns who a request is: accounts, argon2id password
// hashes, login sessions (cookies), personal API tokens, login throttling and
// the in-memory credential -> user cache.
//
// Guarantees: passwords are stored only as argon2id hashes and tokens only as
// SHA-256 hashes, so nothing in the database can be replayed as a credential;
// login answers and timing do not reveal whether an email has an account; a
// concurrent burst of attempts cannot exceed the login throttles, because an
// attempt is counted before its password is checked. identity never talks
// HTTP (httpapi maps its errors) and never logs a password or a token.
package identity
