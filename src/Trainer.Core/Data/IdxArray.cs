namespace Trainer.Core.Data;

/// <summary>
/// The content of one unsigned-byte IDX file: its dimensions (outermost first) and its payload
/// in row-major order.
/// </summary>
/// <param name="Dims">Size of each dimension, outermost first (e.g. [60000, 28, 28]).</param>
/// <param name="Data">The payload; its length is the product of <paramref name="Dims"/>.</param>
public sealed record IdxArray(int[] Dims, byte[] Data)
{
    /// <summary>Dimensions as the <c>long</c> shape TorchSharp tensor factories take.</summary>
    public long[] Shape => Array.ConvertAll(Dims, d => (long)d);
}
