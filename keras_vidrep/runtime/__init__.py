"""Process set-up before TensorFlow loads: the CPU's facts, the matrix-product library (oneDNN or Eigen) chosen for
this CPU, and the quiet, lean start-up every command shares."""
