/// Every name and number the Seer wire protocol fixes, in one place; docs/PROTOCOL.md quotes these.
public enum SeerProtocol {
    // MARK: Framing

    /// Start of the header frame; identifies the protocol.
    public static let signature = "SEER"
    /// The protocol version this build speaks.
    public static let version = 1
    /// The header frame: signature then the version in decimal, "SEER1".
    public static let header = signature + String(version)
    /// `header` as frame bytes.
    public static let headerBytes = Array(header.utf8)
    /// The longest header accepted; longer ones are not ours and are reported as a bad signature.
    static let maxHeaderBytes = 16

    // MARK: Sizes

    /// Limit for every message but DEPLOY: sum of all frames after the routing id.
    public static let maxMessageBytes = 1 << 20  // 1 MiB: a RESULT or READY is a few KiB.
    /// Limit for a DEPLOY message with its inline weights frame: sum of all frames after the routing id.
    public static let maxDeployMessageBytes = 16 << 20  // 16 MiB: a compressed small CNN; bigger ones go by `uri`.
    /// Limit for any JSON body frame, DEPLOY's included.
    public static let maxBodyBytes = maxMessageBytes
    /// What both sockets should set as ZMQ_MAXMSGSIZE (per frame): a larger frame cannot be a valid message.
    public static let transportMaxFrameBytes = Int64(maxDeployMessageBytes)
    /// Frames after the routing id: header, type, body, and DEPLOY's optional weights.
    public static let minFrames = 3, maxFrames = 4
    /// Ids (agent, job, deploy, device key) and ZeroMQ routing ids: 1...255 bytes, as ZMTP allows.
    public static let maxIDBytes = 255
    /// Free text fields (error messages, reasons, names, software versions).
    public static let maxTextBytes = 8 * 1024
    /// Nesting limit for JSON bodies, checked before parsing so hostile input cannot exhaust the stack.
    public static let maxJSONDepth = 32

    // MARK: Timing (milliseconds)

    /// Both sides send HEARTBEAT this often when they have nothing else to send.
    public static let heartbeatIntervalMs = 1_000
    /// A peer silent for `heartbeatLiveness` intervals is dead.
    public static let heartbeatLiveness = 3
    /// Silence after which the coordinator expires an agent, and an agent reconnects.
    public static let peerExpiryMs = heartbeatIntervalMs * heartbeatLiveness
    /// ZMTP (transport) heartbeats, so a dead TCP connection is noticed even when the application is busy.
    public static let zmtpHeartbeatIntervalMs = 1_000, zmtpHeartbeatTimeoutMs = 3_000, zmtpHeartbeatTTLMs = 3_000
    /// Agent reconnect backoff: first retry after this, doubling each failure...
    public static let reconnectInitialMs = 1_000
    /// ...up to this.
    public static let reconnectMaxMs = 32_000
    /// Job deadline when the JOB gives none of its own.
    public static let defaultJobTimeoutMs = 30 * 60 * 1_000
    /// How long the coordinator waits for DEPLOYED after DEPLOY.
    public static let deployTimeoutMs = 5 * 60 * 1_000
    /// Extra time the coordinator allows past a job's `total_ms` for the RESULT/ERROR to arrive.
    public static let jobGraceMs = 10_000
    /// Socket linger on close, so a final DISCONNECT still leaves.
    public static let closeLingerMs = 500

    // MARK: Security

    /// ZAP domain the coordinator's ROUTER announces.
    public static let zapDomain = "seer"
}
