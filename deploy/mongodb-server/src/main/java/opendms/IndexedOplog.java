package opendms;

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.backend.AbstractCursor;
import de.bwaldvogel.mongo.backend.Cursor;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.Utils;
import de.bwaldvogel.mongo.backend.aggregation.Aggregation;
import de.bwaldvogel.mongo.bson.BsonTimestamp;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.oplog.Oplog;
import de.bwaldvogel.mongo.oplog.OplogCursor;
import de.bwaldvogel.mongo.oplog.OplogPosition;
import java.time.Clock;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * mongo-java-server 1.47.0's CollectionBackedOplog (same oplog entries, same change events), except that
 * {@code fullDocument: updateLookup} finds the updated document through the collection's _id index. The
 * original scans the whole collection per update event, on the netty event loop that also serves other
 * connections: at a few hundred thousand documents heartbeats and reads time out behind it
 * (docs/engines/mongodb.md, "Why it stalls"). Its lookup is a private method, hence a class of our own.
 * And a change stream's getMore reads the entries after its position from a map ordered by timestamp: the
 * original filters the whole oplog collection per getMore, which after a million inserts held the
 * collection's lock for seconds at a time and starved both the stream and the writers.
 */
final class IndexedOplog implements Oplog {

    private static final long ELECTION_TERM = 1L;

    private final Clock clock;
    private final AtomicInteger increment = new AtomicInteger();
    private final MongoCollection<Document> collection;
    private final MongoBackend backend;
    private final CursorRegistry cursorRegistry;
    private final UUID ui = UUID.randomUUID();
    private final ConcurrentSkipListMap<BsonTimestamp, Document> entries = new ConcurrentSkipListMap<>();

    IndexedOplog(MongoBackend backend, MongoCollection<Document> collection, CursorRegistry cursorRegistry) {
        this.clock = backend.getClock();
        this.collection = collection;
        this.backend = backend;
        this.cursorRegistry = cursorRegistry;
    }

    @Override
    public void handleInsert(String namespace, List<Document> documents) {
        if (!isOplog(namespace)) {
            append(documents.stream().map(document -> entry("i", namespace).append("o", document.cloneDeeply())));
        }
    }

    @Override
    public void handleUpdate(String namespace, Document selector, Document query, List<Object> modifiedIds) {
        if (!isOplog(namespace)) {
            append(modifiedIds.stream()
                .map(id -> entry("u", namespace).append("o", query).append("o2", new Document("_id", id))));
        }
    }

    @Override
    public void handleDelete(String namespace, Document query, List<Object> deletedIds) {
        if (!isOplog(namespace)) {
            append(deletedIds.stream().map(id -> entry("d", namespace).append("o", new Document("_id", id))));
        }
    }

    @Override
    public void handleDropCollection(String namespace) {
        if (!isOplog(namespace)) {
            String database = Utils.getDatabaseNameFromFullName(namespace);
            append(Stream.of(entry("c", database + ".$cmd")
                .append("o", new Document("drop", Utils.getCollectionNameFromFullName(namespace)))));
        }
    }

    @Override
    public Cursor createCursor(Document changeStream, String namespace, Aggregation aggregation) {
        Document startAfter = (Document) changeStream.get("startAfter");
        Document resumeAfter = (Document) changeStream.get("resumeAfter");
        BsonTimestamp startAtOperationTime = (BsonTimestamp) changeStream.get("startAtOperationTime");
        OplogPosition start;
        if (startAfter != null) {
            start = OplogPosition.fromDocument(startAfter);
        } else if (resumeAfter != null) {
            start = OplogPosition.fromDocument(resumeAfter);
            Document drop = new Document("drop", Utils.getCollectionNameFromFullName(namespace));
            String commands = Utils.getDatabaseNameFromFullName(namespace) + ".$cmd";
            OplogPosition token = start;
            boolean dropped = entries.headMap(timestamp(token), true).values().stream()
                .anyMatch(entry -> entry.get("op").equals("c") && entry.get("ns").equals(commands)
                    && entry.get("o").equals(drop));
            if (dropped) {
                return new InvalidateCursor(start);
            }
        } else if (startAtOperationTime != null) {
            start = new OplogPosition(startAtOperationTime).inclusive();
        } else {
            start = new OplogPosition(new BsonTimestamp(clock.instant(), increment.get()));
        }
        boolean lookUp = "updateLookup".equals(changeStream.get("fullDocument"));
        OplogCursor cursor = new OplogCursor(cursorRegistry.generateCursorId(),
            position -> aggregation.runStagesAsStream(changesAfter(position, namespace)
                .map(entry -> changeEvent(entry, lookUp))), start);
        cursorRegistry.add(cursor);
        return cursor;
    }

    private Stream<Document> changesAfter(OplogPosition position, String namespace) {
        String database = Utils.getDatabaseNameFromFullName(namespace);
        return after(position)
            .filter(entry -> {
                String ns = (String) entry.get("ns");
                return ns.equals(namespace) || (Utils.getDatabaseNameFromFullName(ns).equals(database)
                    && Utils.getCollectionNameFromFullName(ns).equals("$cmd"));
            });
    }

    /** The entries after a position, in timestamp order (the position's own entry if it is inclusive). */
    private Stream<Document> after(OplogPosition position) {
        return entries.tailMap(timestamp(position), true).values().stream()
            .filter(entry -> new OplogPosition(timestamp(entry)).isAfter(position));
    }

    /** Into the oplog collection (which clients may read) and the map the change streams read. */
    private void append(Stream<Document> made) {
        List<Document> added = made.toList();
        collection.addDocuments(added.stream());
        added.forEach(entry -> entries.put(timestamp(entry), entry));
    }

    private Document changeEvent(Document entry, boolean lookUp) {
        String op = (String) entry.get("op");
        Document o = (Document) entry.get("o");
        BsonTimestamp timestamp = timestamp(entry);
        Document id = new Document("_data", new OplogPosition(timestamp).toHexString());
        if (op.equals("c")) {
            String command = o.keySet().stream().findFirst()
                .orElseThrow(() -> new IllegalStateException("Unspecified command operation type"));
            return new Document().append("_id", id).append("operationType", command).append("clusterTime", timestamp);
        }
        Document event = new Document().append("_id", id);
        // As in the original: an update's documentKey is its "o" (the update itself), a delete's its {_id}.
        switch (op) {
            case "i" -> event.append("operationType", "insert").append("fullDocument", o)
                .append("documentKey", new Document("_id", o.get("_id")));
            case "u" -> event.append("operationType", "update").append("fullDocument", updated(entry, o, lookUp))
                .append("documentKey", o);
            case "d" -> event.append("operationType", "delete").append("fullDocument", null).append("documentKey", o);
            default -> throw new IllegalArgumentException("Unexpected operation type: " + op);
        }
        return event.append("clusterTime", timestamp);
    }

    /**
     * The document as it is now, found by its _id's index ($in: served by the unique index). Deleted since:
     * null, as a real server's lookup gives (the original gave the delta, a document without its _id).
     */
    private Document updated(Document entry, Document update, boolean lookUp) {
        Document delta = new Document();
        for (String operator : List.of("$set", "$unset")) {
            if (update.containsKey(operator)) {
                delta.appendAll((Document) update.get(operator));
            }
        }
        if (!lookUp) {
            return delta;
        }
        String ns = (String) entry.get("ns");
        Object id = ((Document) entry.get("o2")).get("_id");
        Document query = new Document("_id", new Document("$in", List.of(id)));
        for (Document document : backend.resolveDatabase(Utils.getDatabaseNameFromFullName(ns))
                .resolveCollection(Utils.getCollectionNameFromFullName(ns), true).handleQuery(query, 0, 1)) {
            return document;
        }
        return null;
    }

    private Document entry(String op, String namespace) {
        return new Document()
            .append("ts", new BsonTimestamp(clock.instant(), increment.incrementAndGet()))
            .append("t", ELECTION_TERM)
            .append("h", 0L)
            .append("v", 2L)
            .append("op", op)
            .append("ns", namespace)
            .append("ui", ui)
            .append("wall", clock.instant());
    }

    private boolean isOplog(String namespace) {
        return collection.getFullName().equals(namespace);
    }

    private static BsonTimestamp timestamp(Document entry) {
        return (BsonTimestamp) entry.get("ts");
    }

    /** OplogPosition keeps its timestamp private; its hex form is the timestamp's value. */
    private static BsonTimestamp timestamp(OplogPosition position) {
        return new BsonTimestamp(Long.parseUnsignedLong(position.toHexString(), 16));
    }

    /** The one event of a stream resumed after its collection's drop. */
    private static final class InvalidateCursor extends AbstractCursor {
        private final OplogPosition position;

        InvalidateCursor(OplogPosition position) {
            super(0);
            this.position = position;
        }

        @Override
        public boolean isEmpty() {
            return false;
        }

        @Override
        public List<Document> takeDocuments(int numberToReturn) {
            return List.of(new Document()
                .append("_id", new Document("_data", position.toHexString()))
                .append("operationType", "invalidate"));
        }
    }
}
