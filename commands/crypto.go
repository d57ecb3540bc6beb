package commands

func registerCrypto(t *Table) {
	t.Register(Command{Name: "support_aes", Level: LimitedRead, Plaintext: true, Inline: true, Handler: supportAES,
		Summary: "answer yes: the manager accepts AES-encrypted requests"})
	t.Register(Command{Name: "exists_aes_key", Level: LimitedRead, Plaintext: true, Inline: true, Handler: existsAESKey,
		Summary: "yes when a manager AES key is loaded, else no"})
}

func supportAES(_ *Request, rep *Reply) { rep.WriteString("yes") }

func existsAESKey(req *Request, rep *Reply) {
	if req.Env.keys().Loaded {
		rep.WriteString("yes")
		return
	}
	rep.WriteString("no")
}
