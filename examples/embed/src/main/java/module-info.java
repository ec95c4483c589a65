/** The embedding example as a module of its own: it reads only what imagenet-e exports (its API package). */
module example.embed {
    requires org.imagenete;
}
