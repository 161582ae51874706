/// A FIFO with O(1) amortized push at both ends and pop at the front; jobs queue here per device key.
///
/// `Array.removeFirst` is O(n), too slow for queues of 10^5 null jobs; this keeps a head index into
/// `back` and a reversed stack `front` for items pushed back to the head (requeued jobs).
struct FIFOQueue<Element> {
    private var front: [Element] = []  // reversed: last element is the head
    private var back: [Element] = []
    private var head = 0

    /// Number of elements.
    var count: Int { front.count + back.count - head }
    /// Whether there are none.
    var isEmpty: Bool { count == 0 }

    /// Appends at the tail.
    mutating func append(_ element: Element) { back.append(element) }

    /// Inserts at the head (next to be popped).
    mutating func pushFront(_ element: Element) { front.append(element) }

    /// The head, without removing it.
    var first: Element? { front.last ?? (head < back.count ? back[head] : nil) }

    /// Removes and returns the head.
    mutating func popFirst() -> Element? {
        if let element = front.popLast() { return element }
        guard head < back.count else { return nil }
        let element = back[head]
        head += 1
        if head >= 1024 && head * 2 >= back.count {
            back.removeFirst(head)
            head = 0
        } else if head == back.count {
            back.removeAll(keepingCapacity: true)
            head = 0
        }
        return element
    }

    /// All elements, head first.
    var elements: [Element] { Array(front.reversed()) + Array(back[head...]) }
}
