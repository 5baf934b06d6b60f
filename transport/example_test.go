package transport_test

import (
	"context"
	"log"
	"os"
	"os/signal"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/transport"
)

// Crawl the caps of everyone who subscribes to crawler@example.org. (Not
// run: it needs a server.)
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	conn, err := transport.New(transport.Config{
		JID:                 "crawler@example.org",
		Password:            os.Getenv("CAPSENGINE_PASSWORD"),
		AcceptSubscriptions: true,
		Rooms:               []string{"xsf@muc.xmpp.org"},
	})
	if err != nil {
		log.Fatal(err)
	}
	eng, err := capsengine.Open(ctx, capsengine.Config{DataDir: "caps.db", Querier: conn})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close(context.Background())
	if err := eng.SetLocal(transport.LocalInfo("capsengine", false)); err != nil {
		log.Fatal(err)
	}
	if err := eng.FlushLocal(ctx); err != nil {
		log.Fatal(err)
	}
	if err := conn.Run(ctx, eng); err != nil { // until interrupted
		log.Fatal(err)
	}
	log.Println(eng.Entities("urn:xmpp:jingle:1"))
}
