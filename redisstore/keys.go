// Package redisstore is tapline's only connection to Redis, where a fleet of
// sensors shares its manager encryption key and finds its members.
//
// This file is the ONE place that names every Redis key and channel tapline
// uses, so operators can see (and ACL) exactly what tapline touches:
//
//	tapline:manager_key     string  JSON {"key":"<base64>","iv":"<base64>"[,"level":L]}: the
//	                                manager key, the same content VoIPmonitor
//	                                keeps in its database table `system`, type
//	                                `manager_key`. No TTL.
//	tapline:plaintext_allowed
//	                        string  JSON {"at":"RFC3339"}: written by
//	                                `tapline keys delete --allow-plaintext`
//	                                together with deleting the manager key,
//	                                removed by `tapline keys store`. A sensor
//	                                that enforced a key serves plaintext again
//	                                only when it finds this marker; a missing
//	                                key without it (Redis lost its data) keeps
//	                                the sensor closed. No TTL.
//	tapline:sensor:<id>     string  JSON {"id_sensor":N,"addr":"host:port",
//	                                "socket":"/path","version":"…","pid":N,
//	                                "started":"RFC3339","updated":"RFC3339"}:
//	                                one live sensor, kept alive by a heartbeat
//	                                (SET … EX ttl); it vanishes when the sensor
//	                                stops or dies.
//	tapline:allowlist       set     the runtime TCP allowlist entries of the
//	                                fleet (`allowlist add|remove`), one
//	                                address or CIDR text per member, at most
//	                                MaxAllow members; the config's
//	                                manager_allow entries are not in it. No
//	                                TTL. Every sensor re-reads it on an
//	                                "allowlist" event and every second.
//	tapline:allowlist_cleared
//	                        string  JSON {"at":"RFC3339"}: set by an
//	                                `allowlist remove` that leaves
//	                                tapline:allowlist empty (in the same
//	                                MULTI, under WATCH), removed by
//	                                `allowlist add`. A sensor that holds
//	                                runtime entries drops them for an empty
//	                                set only when it finds this marker; an
//	                                empty set without it (Redis lost its
//	                                data) keeps them in force. No TTL.
//	tapline:{tokens}        hash    access tokens by id: field <id> (16 hex
//	                                digits), value JSON {"id","name","level",
//	                                "cidrs","created","expires","ttl","renew",
//	                                "revoked","last_used","sha256"}: the SHA-256
//	                                of the secret, never the secret. Written by
//	                                `tapline tokens create|revoke|prune`; at
//	                                most 10000 fields. No TTL.
//	tapline:{tokens}:used   hash    field <id>, value JSON {"last_used",
//	                                "expires"}: last use and renewed expiry,
//	                                written back by sensors at most every 10 s.
//	tapline:{tokens}:version
//	                        string  a random value SET anew with every change
//	                                to tapline:{tokens}; sensors GET it every
//	                                250 ms and reload the hash when it changed.
//	                                ({tokens} is a Cluster hash tag: the three
//	                                keys share a slot, so a change and its
//	                                version move in one MULTI.)
//	tapline:events          channel PUBLISHed messages: "manager_key" when the
//	                                manager key was stored or deleted (or
//	                                plaintext allowed again), so
//	                                sensors reload it at once; "allowlist"
//	                                when tapline:allowlist changed.
//
// Commands used: GET, SET, DEL, SCAN (MATCH tapline:sensor:*), SADD, SREM,
// SMEMBERS, SCARD, SISMEMBER, WATCH, UNWATCH, PUBLISH, SUBSCRIBE, PING, and
// for tokens HGETALL, HGET, HSET, HSETNX, HDEL, HLEN, MULTI and EXEC (also
// used by the allowlist). A Redis 7 ACL user for tapline
// needs no more than
//
//	ACL SETUSER tapline on >password resetchannels ~tapline:* &tapline:* +get +set +del +scan +sadd +srem +smembers +scard +sismember +watch +unwatch +publish +subscribe +ping +hgetall +hget +hset +hsetnx +hdel +hlen +multi +exec
//
// plus +select when the URL names a database other than 0.
//
// Open takes a URL (see ParseURL); every call is bounded by a short timeout so
// a dead Redis makes calls fail fast instead of hanging the sensor.
//
// It owns every Redis key name, the URL syntax (url.go) and the Redis I/O.
// It must not import any other tapline package: keyring and cmd/tapline
// call it.
package redisstore

import "strconv"

// Key and channel names. Nothing else in tapline may name a Redis key.
const (
	// KeyManagerKey holds the fleet's manager key as JSON (StoredKey).
	KeyManagerKey = "tapline:manager_key"
	// keyPlaintextAllowed marks an operator's explicit decision that the
	// fleet runs without a key again (PlaintextMarker as JSON).
	keyPlaintextAllowed = "tapline:plaintext_allowed"
	// keySensorPrefix prefixes one key per live sensor; see sensorKey.
	keySensorPrefix = "tapline:sensor:"
	// keySensorPattern is the SCAN MATCH pattern for all sensor keys.
	keySensorPattern = keySensorPrefix + "*"
	// keyAllowlist is the set of runtime allowlist entries.
	keyAllowlist = "tapline:allowlist"
	// keyAllowlistCleared marks an operator's `allowlist remove` that
	// emptied keyAllowlist (AllowCleared as JSON).
	keyAllowlistCleared = "tapline:allowlist_cleared"
	// keyTokens, keyTokensUsed and keyTokensVersion hold the access
	// tokens (tokens.go); the {tokens} hash tag keeps them in one slot.
	keyTokens        = "tapline:{tokens}"
	keyTokensUsed    = "tapline:{tokens}:used"
	keyTokensVersion = "tapline:{tokens}:version"
	// channelEvents is the Pub/Sub channel for change notifications.
	channelEvents = "tapline:events"
)

// Messages published on channelEvents.
const (
	// eventManagerKey: KeyManagerKey was stored or deleted.
	eventManagerKey = "manager_key"
	// eventAllowlist: keyAllowlist changed.
	eventAllowlist = "allowlist"
)

// sensorKey is the key of sensor id: tapline:sensor:<id>.
func sensorKey(id int) string { return keySensorPrefix + strconv.Itoa(id) }

// sensorIDFromKey parses the id out of a sensor key.
func sensorIDFromKey(key string) (int, bool) {
	if len(key) <= len(keySensorPrefix) || key[:len(keySensorPrefix)] != keySensorPrefix {
		return 0, false
	}
	id, err := strconv.Atoi(key[len(keySensorPrefix):])
	return id, err == nil
}
