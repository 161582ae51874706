/// The jobs waiting for one device key, served owner by owner in turn.
///
/// Each owner (a campaign; nil for jobs submitted without one) keeps its own FIFO; `popFirst` takes the head of the
/// owner whose turn it is and sends that owner to the back of the line, so two campaigns sharing a device key get
/// its agents alternately however many jobs each has queued. `pushFront` (a retry, or a job looked at and put back)
/// puts the job back at the head of its owner's FIFO and that owner at the head of the line, as before it was taken.
/// With one owner it is exactly a FIFO.
struct FairQueue<Element> {
    private var queues: [String?: FIFOQueue<Element>] = [:]
    /// Owners with queued jobs, whose turn first.
    private var line: [String?] = []

    /// Queued jobs, all owners.
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// Appends `element` to its owner's FIFO; a new owner joins the end of the line.
    mutating func append(_ element: Element, owner: String?) {
        if !line.contains(owner) { line.append(owner) }
        queues[owner, default: FIFOQueue()].append(element)
        count += 1
    }

    /// Puts `element` back at the head of its owner's FIFO, and the owner at the head of the line.
    mutating func pushFront(_ element: Element, owner: String?) {
        queues[owner, default: FIFOQueue()].pushFront(element)
        line.removeAll { $0 == owner }
        line.insert(owner, at: 0)
        count += 1
    }

    /// The job `popFirst` would return.
    var first: Element? { line.first.flatMap { queues[$0]?.first } }

    /// Takes the head of the owner whose turn it is; that owner goes to the back of the line (or leaves it if it has
    /// nothing more queued).
    mutating func popFirst() -> (element: Element, owner: String?)? {
        guard !line.isEmpty else { return nil }
        let owner = line.removeFirst()
        guard let element = queues[owner]?.popFirst() else { return popFirst() }
        count -= 1
        if queues[owner]?.isEmpty == false { line.append(owner) } else { queues[owner] = nil }
        return (element, owner)
    }

    /// Every queued job, in the order they would be served if no retry intervened.
    var elements: [Element] {
        var copy = self
        var all: [Element] = []
        while let next = copy.popFirst() { all.append(next.element) }
        return all
    }

    /// Removes the jobs for which `shouldRemove` is true, keeping the order of the rest.
    mutating func removeAll(where shouldRemove: (Element) -> Bool) {
        for owner in line {
            let kept = (queues[owner]?.elements ?? []).filter { !shouldRemove($0) }
            count -= (queues[owner]?.count ?? 0) - kept.count
            var fresh = FIFOQueue<Element>()
            for element in kept { fresh.append(element) }
            queues[owner] = fresh
        }
        line.removeAll { queues[$0]?.isEmpty ?? true }
        for owner in Array(queues.keys) where queues[owner]?.isEmpty ?? true { queues[owner] = nil }
    }
}
