package org.imagenete.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** Opens a weights file by its content, not its name: a PyTorch checkpoint or a safetensors file. */
public final class Checkpoints {
    private Checkpoints() {}

    /**
     * A {@link TorchCheckpoint} when the file starts like one ({@code PK\3\4} zip magic, or a pickle or tar,
     * which it rejects with a clear message), otherwise a {@link SafeTensors}.
     */
    public static StateDict open(Path file) {
        byte[] head;
        try (InputStream in = Files.newInputStream(file)) {
            head = in.readNBytes(512);
        } catch (IOException e) {
            throw new CheckpointException(file, null, "cannot read: " + e, e);
        }
        return TorchCheckpoint.looksLikeTorch(head) ? TorchCheckpoint.open(file) : SafeTensors.open(file);
    }
}
