import SeerWire

/// Installs the models a coordinator sends with DEPLOY; runs on the agent's job thread.
public protocol Deployer: AnyObject, Sendable {
    /// Verifies, installs and reports `deploy`; never throws: every failure is a `failed` DEPLOYED with a code.
    func install(_ deploy: DeployBody, cancel: CancellationFlag) -> DeployedBody
}
