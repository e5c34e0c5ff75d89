// Package config is the tenant file: parse it strictly (an unknown field is
// an error), validate it reporting every problem at once with its line,
// plan the changes against a store and apply them in one transaction.
//
// Secrets in the file (passwords, client secrets) are hashed on apply; they
// never reach the store, a plan or an error message in clear.
package config
