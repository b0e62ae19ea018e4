package vault

import (
	"fmt"
	"strings"
)

// TransitPolicy returns the Vault policy (HCL) of the checkout service:
// make, unwrap and rewrap data keys with one Transit key, and keep its own
// token alive. Nothing else: no sys/ paths, no other key, no encrypt (the
// service never needs ciphertext of its choosing), no key management (PCI
// DSS 7.2.1 / 3.6.1.2: least privilege, key custodians apart from users).
//
// Create the AppRole with token_no_default_policy=true: Vault's default
// policy grants more (cubbyhole, response wrapping, sys/tools), so this one
// carries the two token paths the service needs itself.
//
// mount and key must be plain Vault path names (letters, digits, "-", "_",
// "."; "/" inside mount): it panics otherwise, because a "*" or "+" would
// widen the policy to other keys. TransitOptions refuses the same names.
func TransitPolicy(mount, key string) string {
	mount, key = policyNames(mount, key)
	return fmt.Sprintf(`# hostedcheckout service: data keys under one Transit key, nothing else.
path "%[1]s/datakey/plaintext/%[2]s" {
  capabilities = ["update"]
}

path "%[1]s/decrypt/%[2]s" {
  capabilities = ["update"]
}

path "%[1]s/rewrap/%[2]s" {
  capabilities = ["update"]
}

# Its own token only: renew it, and revoke it on shutdown.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/revoke-self" {
  capabilities = ["update"]
}
`, mount, key)
}

// TransitAdminPolicy returns the Vault policy (HCL) of the operator's key
// rotation command: rotate the one Transit key, read its versions, and
// raise its min_decryption_version after a rewrap (and keep its own token). Give it to a separate
// role from the service's (PCI DSS 3.6.1.2: key management apart from key
// use); the rotation command needs TransitPolicy too, for rewrap. It
// panics on names TransitPolicy refuses.
func TransitAdminPolicy(mount, key string) string {
	mount, key = policyNames(mount, key)
	return fmt.Sprintf(`# hostedcheckout key rotation: one Transit key's versions, nothing else.
path "%[1]s/keys/%[2]s/rotate" {
  capabilities = ["update"]
}

path "%[1]s/keys/%[2]s/config" {
  capabilities = ["update"]
}

path "%[1]s/keys/%[2]s" {
  capabilities = ["read"]
}

# Its own token only: renew it, and revoke it when done.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/revoke-self" {
  capabilities = ["update"]
}
`, mount, key)
}

// policyNames fills in the default names and panics on unsafe ones.
func policyNames(mount, key string) (string, string) {
	if mount == "" {
		mount = DefaultTransitMount
	}
	if key == "" {
		key = DefaultTransitKey
	}
	if err := checkTransitName("mount", mount, true); err != nil {
		panic(err)
	}
	if err := checkTransitName("key", key, false); err != nil {
		panic(err)
	}
	return mount, key
}

// checkTransitName accepts plain Vault path names only: a glob character
// in a policy path would grant other keys, and a quote would break out of
// the policy's string.
func checkTransitName(what, name string, slashOK bool) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") ||
		strings.Contains(name, "//") || strings.Contains(name, "..") {
		return fmt.Errorf("vault: Transit %s %q is not a plain path name", what, name)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || (slashOK && c == '/')
		if !ok {
			return fmt.Errorf("vault: Transit %s %q: only letters, digits, '-', '_', '.'%s are allowed", what, name, map[bool]string{true: " and '/'"}[slashOK])
		}
	}
	return nil
}
