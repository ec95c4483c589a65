/**
 * Images and masks for the editing toolkit.
 *
 * <ul>
 *   <li>{@link org.imagenete.image.Images}: JPEG, PNG and WebP to {@link org.imagenete.image.RgbImage} exactly as
 *   PIL's {@code Image.open}, {@code ImageOps.exif_transpose}, {@code convert("RGB")} give them (lossy WebP aside),
 *   and atomic, deterministic 8-bit PNG writing.</li>
 *   <li>{@link org.imagenete.image.Resize}: Pillow's {@code Image.resize} (NEAREST, BILINEAR, BICUBIC, LANCZOS,
 *   antialiased when shrinking), bit-exact on 8-bit images and on float tensors (Pillow's mode "F").</li>
 *   <li>{@link org.imagenete.image.Masks}: binary, ImageNet-S and soft PNG masks to a
 *   {@link org.imagenete.image.Mask} with area ratio, bounding box and centroid.</li>
 * </ul>
 * Every file problem is an {@link org.imagenete.image.ImageException} naming the file and the fault.
 */
package org.imagenete.image;
