package isolation

// AcceptForTest runs the replay check of o alone.
func AcceptForTest(o *Opener, session string, seq uint64) Reason { return o.accept(session, seq) }

// OpenWithKeyForTest opens a ciphertext with key's AEAD directly.
func OpenWithKeyForTest(key *Key, nonce, ct, ad []byte) ([]byte, error) {
	aead, _ := key.aead()
	return aead.Open(nil, nonce, ct, ad)
}
