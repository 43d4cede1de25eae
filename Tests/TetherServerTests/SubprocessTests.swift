import Testing

/// The suites that drive other processes flat out (soaks, Python clients, tether-demo, network namespaces), nested
/// here to run one test at a time: on two cores, two of them at once starve the in-process tests that run beside
/// them of the CPU their deadlines assume.
@Suite(.serialized) enum SubprocessTests {}
