package org.imagenete.nn;

import org.imagenete.io.SafeTensors;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Golden;


/** Test fixtures for the golden ADM cases. */
public final class AdmGolden {
    private AdmGolden() {}

    /** adm-tiny: num_channels 32, 1 res block, channel_mult 1,2,2, attention at 16 and 8 px (ds 2, 4), 8 channels per head. */
    public static AdmConfig tinyConfig() { return AdmConfig.tiny(); }

    public static Adm tinyModel() {
        SafeTensors st = SafeTensors.open(Golden.golden("adm-tiny/weights.safetensors"));
        return Adm.load(AdmConfig.infer(st.tensors(), 8), st.tensors(), st.file(), st);
    }

    public static Adm model256() { return model256(0, DType.F32); }

    /** The ADM-256 with formula weights of {@code salt}, its convolution weights in {@code convWeights}. */
    public static Adm model256(long salt, DType convWeights) {
        var sd = FormulaWeights.stateDict(AdmConfig.adm256().parameterShapes(), salt, convWeights);
        return Adm.load(AdmConfig.adm256(), sd, null, () -> sd.values().forEach(Tensor::close), convWeights);
    }
}
