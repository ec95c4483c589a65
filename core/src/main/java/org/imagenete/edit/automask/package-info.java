/**
 * Object masks computed for images that come without one: {@link org.imagenete.edit.automask.IsNetMasker}
 * (ISNet salient-object segmentation through ONNX Runtime, model installed by {@code scripts/install-isnet.sh},
 * never committed). Optional: nothing else in the toolkit needs the model.
 */
package org.imagenete.edit.automask;
