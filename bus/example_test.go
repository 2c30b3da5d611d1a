package bus_test

import (
	"context"
	"fmt"

	"github.com/tether-ipc/tether/bus"
	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

func Example() {
	b := bus.NewMemory()
	defer b.Close()
	ctx := context.Background()

	sub, err := b.Subscribe(ctx, bus.Filter{Names: []string{"progress"}, Label: "main"})
	if err != nil {
		panic(err)
	}
	defer sub.Unsubscribe()

	for i, target := range []string{"", "main", "settings"} {
		payload := &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: fmt.Appendf(nil, `{"step":%d}`, i)}}
		if _, err := b.Publish(ctx, bus.Event{Name: "progress", Payload: payload, Target: target}); err != nil {
			panic(err)
		}
	}
	// The event for "settings" is not delivered to "main".
	for range 2 {
		msg, err := sub.Next(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%d %s %s\n", msg.Event.ID, msg.Event.Name, msg.Event.Payload.GetJson())
	}

	// A listener that reconnects resumes after the last id it saw.
	resumed, err := b.Subscribe(ctx, bus.Filter{Names: []string{"progress"}, Label: "main", AfterID: 1})
	if err != nil {
		panic(err)
	}
	defer resumed.Unsubscribe()
	msg, _ := resumed.Next(ctx)
	fmt.Println("resumed at", msg.Event.ID)
	// Output:
	// 1 progress {"step":0}
	// 2 progress {"step":1}
	// resumed at 2
}

func ExampleSubscription_Next_lagged() {
	b := bus.NewMemory(bus.WithQueueSize(2))
	defer b.Close()
	ctx := context.Background()
	sub, _ := b.Subscribe(ctx, bus.Filter{Names: []string{"tick"}})
	defer sub.Unsubscribe()
	for range 5 {
		b.Publish(ctx, bus.Event{Name: "tick"}) // never blocks
	}
	for range 3 {
		msg, _ := sub.Next(ctx)
		if msg.Lagged != nil {
			fmt.Printf("lagged: %d dropped after id %d\n", msg.Lagged.Dropped, msg.Lagged.ResumeAfter)
			continue
		}
		fmt.Println("event", msg.Event.ID)
	}
	// Output:
	// event 1
	// event 2
	// lagged: 3 dropped after id 2
}
