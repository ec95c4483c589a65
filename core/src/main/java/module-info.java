/**
 * imagenet-e as a module. The package {@code org.imagenete} is the embedding API (the README's "Embedding"
 * section): {@link org.imagenete.ImagenetE} and the types its methods take and return, which name nothing outside
 * that package and the JDK. Every other package is the implementation: not exported, so code on the module path
 * cannot compile against it, and free to change. The module is open (not exported) so that reflection-based
 * libraries reach what they read: Jackson the sidecar and manifest records, picocli the command classes.
 */
open module org.imagenete {
    exports org.imagenete;

    requires transitive java.desktop;           // ImageIO; BufferedImage is in the API
    requires java.logging;
    requires jdk.httpserver;                    // serve
    requires static jdk.incubator.vector;       // used only when the JVM was started with it

    requires com.fasterxml.jackson.databind;
    requires com.fasterxml.jackson.dataformat.yaml;
    requires info.picocli;
    requires com.microsoft.onnxruntime;
    requires org.knowm.xchart;
    requires com.twelvemonkeys.imageio.jpeg;
    requires com.twelvemonkeys.imageio.webp;
    requires metadata.extractor;
    requires jcuda;
}
