import { angleDeg, type BoundRule, type Network } from '@bioprop/core';

/**
 * Per layer, the angle in degrees between its feedback weights (`boundRule.feedbackWeights(l)`) and the kernel they
 * stand in for (B vs Wᵀ in the papers' terms), by core's `angleDeg` (90° when either is zero); null for a layer
 * without feedback weights (layer 0, or a layer of another rule in a `perLayer` composition).
 */
export function feedbackAngles(network: Network, boundRule: BoundRule): (number | null)[] {
  return network.layers.map((layer, l) => {
    const B = boundRule.feedbackWeights(l);
    return B ? angleDeg(B, layer.params[layer.kernelName]) : null;
  });
}
