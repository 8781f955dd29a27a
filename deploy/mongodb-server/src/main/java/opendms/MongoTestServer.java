package opendms;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.bson.BsonTimestamp;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.oplog.Oplog;
import io.netty.channel.Channel;
import java.time.Instant;
import java.util.List;

/**
 * Starts mongo-java-server (in memory, with its oplog and change streams) on 127.0.0.1:PORT until killed.
 * Arguments: PORT [--standalone]. By default it answers as the primary of a one-member replica set
 * named rs0; --standalone leaves the oplog off and answers as a server that is not in a replica set.
 */
public final class MongoTestServer {

    /** What drivers of today need from a server, beyond what mongo-java-server answers. */
    static final class Backend extends MemoryBackend {
        private final String address;
        private final boolean replicaSet;

        Backend(String address, boolean replicaSet) {
            this.address = address;
            this.replicaSet = replicaSet;
            // MongoDB 5.0's wire version 13: drivers of today refuse the 8 (4.2) that the server's own
            // versions report; the commands they send are those the server implements.
            version(new MongoVersion() {
                @Override
                public List<Integer> getVersionArray() {
                    return List.of(5, 0, 0);
                }

                @Override
                public int getWireVersion() {
                    return 13;
                }
            });
        }

        /** The server's own oplog, but with update lookups by the _id index (IndexedOplog says why). */
        @Override
        @SuppressWarnings("unchecked")
        protected Oplog createOplog() {
            MongoDatabase local = resolveDatabase("local");
            MongoCollection<Document> collection = (MongoCollection<Document>) local.resolveCollection(OPLOG_COLLECTION_NAME, false);
            if (collection == null) {
                collection = (MongoCollection<Document>) local.createCollectionOrThrowIfExists(OPLOG_COLLECTION_NAME);
            }
            return new IndexedOplog(this, collection, getCursorRegistry());
        }

        @Override
        public Document handleCommand(Channel channel, String database, String command, Document query) {
            boolean handshake = command.equalsIgnoreCase("hello") || command.equalsIgnoreCase("isMaster");
            Document answer = super.handleCommand(channel, database, handshake ? "isMaster" : command, query);
            if (handshake && replicaSet) {
                answer.put("setName", "rs0");
                answer.put("hosts", List.of(address));
                answer.put("primary", address);
                answer.put("me", address);
                answer.put("secondary", false);
                answer.put("isWritablePrimary", true);
            }
            // A replica set member stamps every answer with its operation time: drivers open a change
            // stream at the one its aggregate returned. The server's oplog clock is its own, so this is the
            // start of the current second: at or before every operation the server has not yet answered
            // (a change stream opened there may repeat the second's earlier changes, never miss one).
            if (replicaSet && !answer.containsKey("operationTime")) {
                answer.put("operationTime", new BsonTimestamp(Instant.ofEpochSecond(Instant.now().getEpochSecond()), 0));
            }
            return answer;
        }
    }

    public static void main(String[] args) throws InterruptedException {
        int port = Integer.parseInt(args[0]);
        boolean standalone = args.length > 1 && args[1].equals("--standalone");
        String address = "127.0.0.1:" + port;
        MongoServer server = new MongoServer(new Backend(address, !standalone));
        if (!standalone) {
            server.enableOplog();
        }
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow));
        server.bind("127.0.0.1", port);
        System.out.println("listening on " + address + (standalone ? " (standalone)" : " (replica set rs0)"));
        Thread.currentThread().join();
    }
}
