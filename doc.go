// Package tether holds what every part of Tether shares: the error type with
// its code table, and the description of the call in progress.
//
// Tether carries Tauri-style commands and events over gRPC. The core lives in
// package server, the Go client in package client, the JSON gateway for web
// frontends in package gateway, and the security patterns (brownfield,
// isolation, capabilities) in the packages below interceptors.
package tether
