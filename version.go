package tether

// Version is this release of Tether (semantic versioning). The CLI's
// `tether --version` prints it with the module version, commit and Go
// version the binary was built from (runtime/debug.ReadBuildInfo).
const Version = "0.1.0"
