-- Sandbox publishable keys used to be `pk_test_<the secret key's suffix>`, so a page showing one revealed
-- the secret key. They are now derived one way from the secret key (`keys::sandbox_publishable_key`) and
-- registered when the secret key is next used; the old ones stop working here.
DELETE FROM api_keys WHERE sandbox = TRUE AND kind = 'publishable';
