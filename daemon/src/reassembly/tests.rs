//! Unit tests for TCP stream reassembly, on segments cut from streams built
//! here.

use super::*;

/// A segment of a test stream: stream offset, bytes, and wire length.
#[derive(Clone, Debug)]
struct Segment {
    offset: u32,
    bytes: Vec<u8>,
    wire_len: u32,
}

/// Bytes 0, 1, 2, ... wrapping at 251 (a prime, so segment boundaries never
/// line up with the pattern).
fn stream(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Cuts `data[from..to]` into a segment carrying all its bytes.
fn segment(data: &[u8], from: usize, to: usize) -> Segment {
    Segment {
        offset: from as u32,
        bytes: data[from..to].to_vec(),
        wire_len: (to - from) as u32,
    }
}

/// Pushes segments at initial sequence number `isn` and returns everything
/// delivered, including what `finish` flushes.
fn run(reassembler: &mut DirectionReassembler, isn: u32, segments: &[Segment]) -> Vec<Delivery> {
    let mut out = Vec::new();
    for segment in segments {
        reassembler.push(
            isn.wrapping_add(segment.offset),
            &segment.bytes,
            segment.wire_len,
            &mut out,
        );
    }
    reassembler.finish(&mut out);
    out
}

/// Reassembles a stream whose start is known, as after a captured SYN.
fn reassemble(isn: u32, segments: &[Segment]) -> Vec<Delivery> {
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    reassembler.start_at(isn);
    run(&mut reassembler, isn, segments)
}

/// Concatenated data bytes and total gap bytes of a delivery sequence.
fn flatten(deliveries: &[Delivery]) -> (Vec<u8>, u64) {
    let mut data = Vec::new();
    let mut gap = 0;
    for delivery in deliveries {
        match delivery {
            Delivery::Data(bytes) => data.extend_from_slice(bytes),
            Delivery::Gap(len) => gap += len,
        }
    }
    (data, gap)
}

/// Lists every ordering of `items` (Heap's algorithm).
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    fn generate<T: Clone>(k: usize, items: &mut Vec<T>, result: &mut Vec<Vec<T>>) {
        if k <= 1 {
            result.push(items.clone());
            return;
        }
        for i in 0..k - 1 {
            generate(k - 1, items, result);
            if k.is_multiple_of(2) {
                items.swap(i, k - 1);
            } else {
                items.swap(0, k - 1);
            }
        }
        generate(k - 1, items, result);
    }

    let mut items = items.to_vec();
    let mut result = Vec::new();
    generate(items.len(), &mut items, &mut result);
    result
}

const ISN: u32 = 1_000;

// ---------------------------------------------------------------------------
// Ordering
// ---------------------------------------------------------------------------

#[test]
fn in_order() {
    let data = stream(300);
    let segments = [
        segment(&data, 0, 100),
        segment(&data, 100, 250),
        segment(&data, 250, 300),
    ];
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let mut out = Vec::new();

    reassembler.push(ISN, &segments[0].bytes, 100, &mut out);
    assert_eq!(
        out,
        vec![Delivery::Data(data[..100].to_vec())],
        "first segment delivered at once"
    );

    out.clear();
    reassembler.push(ISN + 100, &segments[1].bytes, 150, &mut out);
    reassembler.push(ISN + 250, &segments[2].bytes, 50, &mut out);
    assert_eq!(out.len(), 2, "each in-order push delivers its own data");
    let (bytes, gap) = flatten(&out);
    assert_eq!(bytes, data[100..], "in-order bytes match the stream");
    assert_eq!(gap, 0, "in-order data has no gap");
    assert_eq!(reassembler.buffered_bytes(), 0, "nothing is buffered");
}

#[test]
fn reordered_permutations() {
    let data = stream(1_000);
    let segments = [
        segment(&data, 0, 130),
        segment(&data, 130, 400),
        segment(&data, 400, 401),
        segment(&data, 401, 1_000),
    ];

    let orders = permutations(&segments);
    assert_eq!(orders.len(), 24, "4 segments have 24 orderings");
    for order in orders {
        let offsets: Vec<u32> = order.iter().map(|s| s.offset).collect();
        let out = reassemble(ISN, &order);
        let (bytes, gap) = flatten(&out);
        assert!(bytes == data, "order {offsets:?} rebuilds the stream");
        assert_eq!(gap, 0, "order {offsets:?} has no gap");
    }
}

#[test]
fn reordered_mid_stream() {
    // Without `start_at`, the first segment seen defines the start, and an
    // earlier segment that arrives afterwards is taken as already delivered.
    let data = stream(200);
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let out = run(
        &mut reassembler,
        ISN,
        &[segment(&data, 100, 200), segment(&data, 0, 100)],
    );
    assert_eq!(
        out,
        vec![Delivery::Data(data[100..].to_vec())],
        "only data from the first segment on"
    );
    assert_eq!(
        reassembler.counters().duplicate_bytes,
        100,
        "the earlier segment counts as duplicate"
    );
}

#[test]
fn start_at_ignored_later() {
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let mut out = Vec::new();

    reassembler.push(ISN, b"abc", 3, &mut out);
    reassembler.start_at(ISN - 100);
    reassembler.push(ISN + 3, b"def", 3, &mut out);
    let (bytes, gap) = flatten(&out);
    assert_eq!(bytes, b"abcdef", "start_at after data changes nothing");
    assert_eq!(gap, 0, "no gap");
}

// ---------------------------------------------------------------------------
// Duplicates and overlaps
// ---------------------------------------------------------------------------

#[test]
fn duplicated_segments() {
    let data = stream(600);
    let segments = [
        segment(&data, 0, 200),
        segment(&data, 200, 400),
        segment(&data, 400, 600),
    ];
    let twice_adjacent: Vec<Segment> = segments
        .iter()
        .flat_map(|s| [s.clone(), s.clone()])
        .collect();
    let twice_later: Vec<Segment> = segments.iter().chain(segments.iter()).cloned().collect();
    let twice_reordered = vec![
        segments[2].clone(),
        segments[0].clone(),
        segments[2].clone(),
        segments[1].clone(),
        segments[0].clone(),
        segments[1].clone(),
    ];

    for (name, order) in [
        ("adjacent", twice_adjacent),
        ("later", twice_later),
        ("reordered", twice_reordered),
    ] {
        let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
        reassembler.start_at(ISN);
        let out = run(&mut reassembler, ISN, &order);
        let (bytes, gap) = flatten(&out);
        assert!(bytes == data, "{name}: duplicates are delivered once");
        assert_eq!(gap, 0, "{name}: no gap");
        assert_eq!(
            reassembler.counters().duplicate_bytes,
            600,
            "{name}: every byte counted once as duplicate"
        );
    }
}

#[test]
fn overlapping_extents() {
    let data = stream(1_600);
    let segments = [
        segment(&data, 400, 1_000),
        segment(&data, 0, 600),
        segment(&data, 200, 1_200),
        segment(&data, 1_000, 1_600),
        segment(&data, 800, 1_400),
        segment(&data, 100, 150),
    ];

    let orders = permutations(&segments);
    assert_eq!(orders.len(), 720, "6 segments have 720 orderings");
    for order in orders {
        let offsets: Vec<u32> = order.iter().map(|s| s.offset).collect();
        let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
        reassembler.start_at(ISN);
        let out = run(&mut reassembler, ISN, &order);
        let (bytes, gap) = flatten(&out);
        assert!(bytes == data, "order {offsets:?} rebuilds the stream");
        assert_eq!(gap, 0, "order {offsets:?} has no gap");

        // Pushed: 600 + 600 + 1000 + 600 + 600 + 50 bytes for 1600 distinct.
        let duplicates = reassembler.counters().duplicate_bytes;
        assert_eq!(
            duplicates,
            3_450 - 1_600,
            "order {offsets:?} counts overlaps"
        );
    }
}

#[test]
fn overlap_keeps_first_copy() {
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let mut out = Vec::new();

    reassembler.push(ISN, b"abcd", 4, &mut out);
    reassembler.push(ISN + 6, b"GH", 2, &mut out);
    // Covers delivered bytes, a hole and buffered bytes, with other content.
    reassembler.push(ISN + 2, b"xxefyyij", 8, &mut out);
    reassembler.finish(&mut out);

    let (bytes, gap) = flatten(&out);
    assert_eq!(bytes, b"abcdefGHij", "first copy wins where copies overlap");
    assert_eq!(gap, 0, "the overlap filled the hole");
}

// ---------------------------------------------------------------------------
// Missing segments
// ---------------------------------------------------------------------------

#[test]
fn missing_resolved_later() {
    let data = stream(400);
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let mut out = Vec::new();

    reassembler.push(ISN, &data[..100], 100, &mut out);
    reassembler.push(ISN + 200, &data[200..300], 100, &mut out);
    reassembler.push(ISN + 300, &data[300..], 100, &mut out);
    assert_eq!(
        out,
        vec![Delivery::Data(data[..100].to_vec())],
        "data after the hole waits"
    );
    assert_eq!(
        reassembler.buffered_bytes(),
        200,
        "two segments are buffered"
    );

    out.clear();
    reassembler.push(ISN + 100, &data[100..200], 100, &mut out);
    assert_eq!(
        out,
        vec![Delivery::Data(data[100..].to_vec())],
        "filling the hole releases the rest"
    );
    assert_eq!(
        reassembler.buffered_bytes(),
        0,
        "buffer is empty after release"
    );
    assert_eq!(reassembler.counters().gaps, 0, "no gap was declared");
}

#[test]
fn missing_segment_limit() {
    let data = stream(500);
    let limits = ReassemblyLimits {
        max_buffered_bytes: 1_000,
        max_segments: 2,
    };
    let mut reassembler = DirectionReassembler::new(limits);
    let mut out = Vec::new();

    reassembler.push(ISN, &data[..100], 100, &mut out);
    reassembler.push(ISN + 130, &data[130..200], 70, &mut out);
    reassembler.push(ISN + 200, &data[200..300], 100, &mut out);
    assert_eq!(out.len(), 1, "two buffered segments fit the limit");

    out.clear();
    reassembler.push(ISN + 300, &data[300..400], 100, &mut out);
    assert_eq!(
        out,
        vec![Delivery::Gap(30), Delivery::Data(data[130..400].to_vec())],
        "a third buffered segment gives up the 30-byte hole"
    );
    assert_eq!(reassembler.buffered_bytes(), 0, "the buffer is emptied");

    out.clear();
    reassembler.push(ISN + 100, &data[100..130], 30, &mut out);
    assert!(out.is_empty(), "the late segment is old now");
    assert_eq!(
        reassembler.counters().duplicate_bytes,
        30,
        "the late segment counts as duplicate"
    );
}

#[test]
fn missing_byte_limit() {
    let data = stream(3_000);
    let limits = ReassemblyLimits {
        max_buffered_bytes: 1_500,
        max_segments: 64,
    };
    let mut reassembler = DirectionReassembler::new(limits);
    let mut out = Vec::new();

    reassembler.push(ISN, &data[..10], 10, &mut out);
    reassembler.push(ISN + 1_000, &data[1_000..2_000], 1_000, &mut out);
    reassembler.push(ISN + 2_500, &data[2_500..3_000], 500, &mut out);
    assert_eq!(
        reassembler.buffered_bytes(),
        1_500,
        "exactly at the byte limit"
    );

    out.clear();
    reassembler.push(ISN + 2_400, &data[2_400..2_450], 50, &mut out);
    assert_eq!(
        out,
        vec![
            Delivery::Gap(990),
            Delivery::Data(data[1_000..2_000].to_vec())
        ],
        "going over the byte limit gives up the earliest hole only"
    );
    assert_eq!(
        reassembler.buffered_bytes(),
        550,
        "later segments stay buffered"
    );
}

#[test]
fn missing_until_finish() {
    let data = stream(300);
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let out = run(
        &mut reassembler,
        ISN,
        &[
            segment(&data, 0, 100),
            segment(&data, 150, 200),
            segment(&data, 250, 300),
        ],
    );

    let expected = vec![
        Delivery::Data(data[..100].to_vec()),
        Delivery::Gap(50),
        Delivery::Data(data[150..200].to_vec()),
        Delivery::Gap(50),
        Delivery::Data(data[250..].to_vec()),
    ];
    assert_eq!(out, expected, "finish fills each hole with a gap");
    assert_eq!(reassembler.buffered_bytes(), 0, "finish empties the buffer");
}

#[test]
fn adjacent_gaps_merged() {
    let data = stream(50);
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let mut out = Vec::new();

    reassembler.push(ISN, &data[..10], 10, &mut out);
    reassembler.push(ISN + 20, &data[20..25], 10, &mut out);
    reassembler.push(ISN + 40, &data[40..], 10, &mut out);
    out.clear();
    reassembler.finish(&mut out);

    let expected = vec![
        Delivery::Gap(10),
        Delivery::Data(data[20..25].to_vec()),
        Delivery::Gap(15),
        Delivery::Data(data[40..].to_vec()),
    ];
    assert_eq!(
        out, expected,
        "a cut tail and the hole after it form one gap"
    );
    assert_eq!(reassembler.counters().gaps, 2, "merged gaps count once");
    assert_eq!(reassembler.counters().gap_bytes, 25, "gap bytes");
}

#[test]
fn retransmission_after_finish() {
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let mut out = Vec::new();

    reassembler.push(ISN, b"hello", 5, &mut out);
    reassembler.finish(&mut out);
    out.clear();
    reassembler.push(ISN, b"hello", 5, &mut out);
    assert!(out.is_empty(), "a retransmission after finish is dropped");
    assert_eq!(
        reassembler.counters().duplicate_bytes,
        5,
        "and counted as duplicate"
    );
}

// ---------------------------------------------------------------------------
// Sequence numbers and truncation
// ---------------------------------------------------------------------------

#[test]
fn wraparound() {
    let data = stream(900);
    let isn = u32::MAX - 299;
    let segments = [
        segment(&data, 0, 250),
        segment(&data, 250, 350),
        segment(&data, 350, 600),
        segment(&data, 600, 900),
    ];

    for order in permutations(&segments[1..]) {
        let mut all = vec![segments[0].clone()];
        all.extend(order);
        let offsets: Vec<u32> = all.iter().map(|s| s.offset).collect();
        let out = reassemble(isn, &all);
        let (bytes, gap) = flatten(&out);
        assert!(
            bytes == data,
            "order {offsets:?} across 2^32 rebuilds the stream"
        );
        assert_eq!(gap, 0, "order {offsets:?} across 2^32 has no gap");
    }

    let mut duplicates = segments.to_vec();
    duplicates.extend(segments.iter().cloned());
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    run(&mut reassembler, isn, &duplicates);
    assert_eq!(
        reassembler.counters().duplicate_bytes,
        900,
        "retransmissions across 2^32 are old"
    );
}

#[test]
fn truncated_capture() {
    let data = stream(400);
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let mut out = Vec::new();

    reassembler.push(ISN, &data[..60], 100, &mut out);
    assert_eq!(
        out,
        vec![Delivery::Data(data[..60].to_vec()), Delivery::Gap(40)],
        "a cut segment yields its data, then a gap"
    );

    out.clear();
    reassembler.push(ISN + 100, &data[100..200], 100, &mut out);
    assert_eq!(
        out,
        vec![Delivery::Data(data[100..200].to_vec())],
        "the next segment follows the gap"
    );
}

#[test]
fn truncated_out_of_order() {
    let data = stream(400);
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let mut out = Vec::new();

    reassembler.push(ISN, &data[..100], 100, &mut out);
    reassembler.push(ISN + 200, &data[200..230], 100, &mut out);
    reassembler.push(ISN + 300, &data[300..400], 100, &mut out);
    out.clear();
    reassembler.push(ISN + 100, &data[100..200], 100, &mut out);

    let expected = vec![
        Delivery::Data(data[100..230].to_vec()),
        Delivery::Gap(70),
        Delivery::Data(data[300..].to_vec()),
    ];
    assert_eq!(
        out, expected,
        "a buffered cut segment keeps its gap in place"
    );
}

#[test]
fn short_wire_len() {
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let mut out = Vec::new();

    reassembler.push(ISN, b"abcdef", 2, &mut out);
    reassembler.push(ISN + 6, b"gh", 2, &mut out);
    let (bytes, gap) = flatten(&out);
    assert_eq!(
        bytes, b"abcdefgh",
        "a wire length below the payload is raised to it"
    );
    assert_eq!(gap, 0, "no gap");
}

#[test]
fn empty_segments_ignored() {
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let mut out = Vec::new();

    reassembler.push(5, b"", 0, &mut out);
    reassembler.push(ISN, b"abc", 3, &mut out);
    reassembler.push(ISN + 3, b"", 0, &mut out);
    assert_eq!(
        out,
        vec![Delivery::Data(b"abc".to_vec())],
        "an empty segment sets no position"
    );
    assert_eq!(
        reassembler.counters().segments,
        1,
        "empty segments are not counted"
    );
}

// ---------------------------------------------------------------------------
// Jumps
// ---------------------------------------------------------------------------

#[test]
fn jump_confirmed() {
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let mut out = Vec::new();
    let far = ISN.wrapping_add(1 << 31);

    reassembler.push(ISN, b"abc", 3, &mut out);
    reassembler.push(ISN + 10, b"zz", 2, &mut out);
    out.clear();

    reassembler.push(far, b"new", 3, &mut out);
    assert!(out.is_empty(), "one far segment is held back");
    assert_eq!(
        reassembler.buffered_bytes(),
        5,
        "the candidate counts as buffered"
    );

    reassembler.push(far + 3, b"data", 4, &mut out);
    let expected = vec![
        Delivery::Gap(7),
        Delivery::Data(b"zz".to_vec()),
        Delivery::Gap(u64::from(far.wrapping_sub(ISN + 12))),
        Delivery::Data(b"newdata".to_vec()),
    ];
    assert_eq!(
        out, expected,
        "a confirmed jump flushes, then continues at the new position"
    );
    assert_eq!(
        reassembler.buffered_bytes(),
        0,
        "nothing stays buffered after the jump"
    );
    assert_eq!(
        reassembler.counters().dropped_segments,
        0,
        "nothing was dropped"
    );
}

#[test]
fn jump_stray_dropped() {
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let mut out = Vec::new();

    reassembler.push(ISN, b"abc", 3, &mut out);
    reassembler.push(ISN.wrapping_sub(1 << 31), b"stray", 5, &mut out);
    reassembler.push(ISN + 3, b"def", 3, &mut out);
    let (bytes, _) = flatten(&out);
    assert_eq!(bytes, b"abcdef", "a stray far segment is not delivered");
    assert_eq!(
        reassembler.counters().dropped_segments,
        1,
        "the stray is counted as dropped"
    );

    // Both lie more than a window from ISN + 6 and from each other.
    let next = ISN + 6;
    out.clear();
    reassembler.push(next.wrapping_add((1 << 30) + 10), b"one", 3, &mut out);
    reassembler.push(next.wrapping_add((3 << 30) - 10), b"two", 3, &mut out);
    reassembler.finish(&mut out);
    assert!(
        out.is_empty(),
        "two far segments that disagree are not delivered"
    );
    assert_eq!(
        reassembler.counters().dropped_segments,
        3,
        "both are counted as dropped"
    );
}

#[test]
fn window_edge() {
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let mut out = Vec::new();

    reassembler.push(ISN, b"a", 1, &mut out);
    reassembler.push(ISN + 1 + MAX_WINDOW, b"b", 1, &mut out);
    assert_eq!(
        reassembler.counters().out_of_order_segments,
        1,
        "a segment a full window ahead is buffered"
    );
    assert_eq!(
        reassembler.counters().dropped_segments,
        0,
        "it is not a jump candidate"
    );

    reassembler.push(ISN + 2 + MAX_WINDOW, b"c", 1, &mut out);
    assert_eq!(
        reassembler.counters().out_of_order_segments,
        1,
        "one byte further is not buffered"
    );
    assert_eq!(
        reassembler.buffered_bytes(),
        2,
        "it is held as a jump candidate"
    );
}

// ---------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------

#[test]
fn counters() {
    let data = stream(500);
    let mut reassembler = DirectionReassembler::new(ReassemblyLimits::default());
    let mut out = Vec::new();

    reassembler.push(ISN, &data[..100], 100, &mut out);
    reassembler.push(ISN + 200, &data[200..300], 100, &mut out);
    reassembler.push(ISN + 250, &data[250..350], 100, &mut out);
    reassembler.push(ISN, &data[..100], 100, &mut out);
    reassembler.push(ISN + 400, &data[400..420], 100, &mut out);
    reassembler.finish(&mut out);

    let counters = reassembler.counters();
    assert_eq!(counters.segments, 5, "segments");
    assert_eq!(counters.duplicate_bytes, 150, "duplicate bytes");
    assert_eq!(counters.out_of_order_segments, 3, "out-of-order segments");
    assert_eq!(counters.gaps, 3, "gaps");
    assert_eq!(counters.gap_bytes, 100 + 50 + 80, "gap bytes");
    assert_eq!(counters.dropped_segments, 0, "dropped segments");
}
